/**
 * The widget's styles, inside its shadow root so the host page's CSS cannot reach them and they cannot reach
 * the host. `all: initial` on the host stops inherited properties (font, colour, line height) leaking in.
 * Colour pairs are chosen for WCAG AA (4.5:1 for text) in both themes; the numbers are beside each pair.
 * At phone width (<= 480px) the panel takes the whole screen.
 */
export const STYLES = `
:host{all:initial;--bg:#fff;--fg:#1f2328;--muted:#57606a;--line:#d0d7de;--accent:#0b57d0;--on-accent:#fff;
--bot:#f1f3f5;--err-bg:#fdecea;--err-fg:#8a1c1c;--link:#0b57d0;--shadow:0 8px 28px rgba(0,0,0,.22);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg)}
/* light: fg on bg 15.8:1, muted 6.1:1, accent on bg 6.6:1, white on accent 6.6:1, link on bot 5.9:1 */
:host([theme=dark]){--bg:#1b1f24;--fg:#e6edf3;--muted:#9da7b3;--line:#3d444d;--accent:#1a5fd0;--on-accent:#fff;
--bot:#2d333b;--err-bg:#3d1d1d;--err-fg:#ffb4ab;--link:#8cc4ff}
/* dark: fg on bg 14.6:1, muted 6.6:1, white on accent 5.6:1, link on bot 7.4:1, err 8.9:1 */
*{box-sizing:border-box}
[hidden]{display:none!important}
.sr{position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
button,textarea{font:inherit;color:inherit}
button{cursor:pointer}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
#launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;width:56px;height:56px;border-radius:50%;
border:0;background:var(--accent);color:var(--on-accent);box-shadow:var(--shadow);display:grid;place-items:center}
#launcher svg{width:28px;height:28px}
#launcher:focus-visible{outline-color:var(--fg)}
#panel{position:fixed;right:20px;bottom:88px;z-index:2147483001;width:380px;max-width:calc(100vw - 40px);
height:min(600px,calc(100vh - 110px));display:flex;flex-direction:column;background:var(--bg);color:var(--fg);
border:1px solid var(--line);border-radius:14px;box-shadow:var(--shadow);overflow:hidden}
.head{display:flex;align-items:flex-start;gap:8px;padding:12px 12px 10px 16px;border-bottom:1px solid var(--line)}
.heading{flex:1;min-width:0}
h2{margin:0;font-size:17px;line-height:1.3}
#context{margin:2px 0 0;color:var(--muted);font-size:13px;overflow-wrap:anywhere}
#context b{color:var(--fg);font-weight:600}
.icon{width:36px;height:36px;border-radius:8px;border:1px solid transparent;background:transparent;display:grid;place-items:center;flex:none}
.icon:hover{border-color:var(--line)}
.icon svg{width:20px;height:20px}
#log{flex:1;overflow-y:auto;padding:14px 14px 6px;display:flex;flex-direction:column;gap:10px}
.hint{color:var(--muted);margin:auto 0;text-align:center;padding:0 12px}
.msg{display:flex;flex-direction:column;max-width:88%}
.msg.user{align-self:flex-end;align-items:flex-end}
.bubble{padding:8px 12px;border-radius:12px;overflow-wrap:anywhere;white-space:pre-wrap}
.user .bubble{background:var(--accent);color:var(--on-accent);border-bottom-right-radius:4px}
.bot .bubble{background:var(--bot);border-bottom-left-radius:4px;white-space:normal}
.bubble p,.bubble ul,.bubble ol,.bubble pre{margin:0 0 6px}
.bubble>:last-child{margin-bottom:0}
.bubble ul,.bubble ol{padding-left:20px}
.bubble a{color:var(--link);text-decoration:underline}
.bubble code{font:13px ui-monospace,"DejaVu Sans Mono",monospace;background:rgba(127,127,127,.18);padding:0 3px;border-radius:4px}
.bubble pre{white-space:pre-wrap}
.note{font-size:13px;color:var(--muted);margin:4px 2px 0}
.feedback{display:flex;flex-wrap:wrap;align-items:center;gap:4px;margin-top:4px}
.feedback .icon{width:32px;height:32px;color:var(--muted)}
.feedback .icon[aria-pressed=true]{color:var(--accent);border-color:var(--accent)}
.feedback .icon svg{width:16px;height:16px}
.status{font-size:13px;color:var(--muted)}
.comment,.survey{display:flex;flex-direction:column;gap:6px;width:100%;margin-top:6px}
label{font-size:13px;font-weight:600}
textarea{width:100%;resize:none;border:1px solid var(--muted);border-radius:8px;padding:8px 10px;background:var(--bg)}
textarea::placeholder{color:var(--muted);opacity:1}
.row{display:flex;gap:6px;flex-wrap:wrap;align-items:center}
.btn{border:1px solid var(--accent);background:var(--accent);color:var(--on-accent);border-radius:8px;padding:6px 12px;font-size:14px}
.btn.ghost{background:transparent;color:var(--fg);border-color:var(--line)}
.btn:disabled{opacity:.6;cursor:default}
.error{align-self:stretch;max-width:100%;background:var(--err-bg);color:var(--err-fg);border-radius:10px;padding:8px 12px;gap:6px}
.error p{margin:0}
.error .btn{align-self:flex-start}
#typing{display:flex;gap:4px;align-self:flex-start;background:var(--bot);padding:12px 14px;border-radius:12px;margin:0 14px 6px}
.dot{width:7px;height:7px;border-radius:50%;background:var(--muted);animation:blink 1.2s infinite both}
.dot:nth-child(2){animation-delay:.2s}.dot:nth-child(3){animation-delay:.4s}
@keyframes blink{0%,80%,100%{opacity:.25}40%{opacity:1}}
@media (prefers-reduced-motion:reduce){.dot{animation:none}}
#quick{display:flex;flex-wrap:wrap;gap:6px;padding:6px 14px 0}
#quick .btn{font-size:13px;padding:4px 10px;border-radius:16px}
#composer{display:flex;gap:8px;align-items:flex-end;padding:10px 14px 14px}
#input{max-height:120px}
#send{width:42px;height:42px;border-radius:10px;border:0;background:var(--accent);color:var(--on-accent);display:grid;place-items:center;flex:none}
#send svg{width:20px;height:20px}
#send:disabled{opacity:.6}
#satisfaction{padding:12px 14px 14px;border-top:1px solid var(--line)}
#satisfaction p{margin:0 0 6px;font-weight:600}
.scale{display:flex;gap:6px;align-items:center}
.scale .btn{min-width:40px}
.scale .btn[aria-pressed=true]{outline:2px solid var(--fg);outline-offset:1px}
.ends{display:flex;justify-content:space-between;font-size:12px;color:var(--muted);max-width:250px}
@media (max-width:480px){
#panel{inset:0;width:100%;max-width:none;height:100%;border-radius:0;border:0}
:host([data-open]) #launcher{display:none}
}
#past{display:flex;flex-direction:column;gap:8px;padding:12px 16px;overflow:auto;flex:1}
#past h3{font-size:15px;margin:0}
.past-items{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:6px}
.past-item{display:flex;flex-direction:column;align-items:flex-start;gap:2px;width:100%;text-align:left;padding:8px 10px;border:1px solid var(--line);border-radius:8px;background:transparent}
.past-item:hover,.past-item[aria-current=true]{border-color:var(--accent)}
.past-label{overflow-wrap:anywhere}
.past-meta,.past-status{font-size:12px;color:var(--muted);margin:0}
`;
