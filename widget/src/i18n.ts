/**
 * Every string the widget shows or announces, in Brazilian Portuguese and English, in one place so a
 * translator edits one file and a missing key is a type error.
 */

import type { Language } from "./gen/assist/v1/common";

export type Locale = "pt-BR" | "en";

const en = {
  launcherOpen: "Open the assistant",
  launcherClose: "Close the assistant",
  title: "Assistant",
  general: "Ask about your tasks",
  aboutTask: "About task",
  close: "Close",
  newConversation: "End conversation",
  inputLabel: "Your question",
  placeholder: "Ask about your tasks…",
  send: "Send",
  quickActions: "Quick questions",
  quickSummarize: "Summarize this task",
  quickBlockers: "What is blocking it?",
  quickDue: "What is due?",
  askSummarize: "Summarize this task",
  askBlockers: "What is blocking this task?",
  askDue: "What is due soon?",
  you: "You",
  assistant: "Assistant",
  typing: "The assistant is writing…",
  answerReady: "Answer ready",
  empty: "Hi! Ask me about your tasks: what is late, what is due, what is blocking something.",
  emptyTask: "Ask me about this task, or pick a quick question.",
  loadingHistory: "Loading the conversation…",
  degraded: "Part of the assistant is unavailable, so this answer may be incomplete.",
  retry: "Try again",
  errNetwork: "Could not reach the assistant. Check your connection and try again.",
  errUnavailable: "The assistant is busy or unavailable right now. Try again in a moment.",
  errTimeout: "The answer took too long.",
  errAuth: "You are not signed in, or your session has expired. Sign in again and retry.",
  errInvalid: "The assistant could not accept this message.",
  errTooMany: "Too many messages in a short time. Wait a moment and try again.",
  errDailyBudget: "You have used today's allowance of assistant answers. It renews tomorrow.",
  errNotFound: "This conversation no longer exists. A new one will be started.",
  errGeneric: "Something went wrong.",
  helpful: "Helpful",
  notHelpful: "Not helpful",
  feedbackComment: "What was wrong? (optional)",
  feedbackSend: "Send feedback",
  feedbackCancel: "Cancel",
  feedbackThanks: "Thanks for your feedback.",
  feedbackFailed: "Could not send your feedback.",
  satisfactionQuestion: "How satisfied are you with this conversation?",
  satisfactionScore: (n: number): string => `${n} of 5`,
  satisfactionLow: "Not at all",
  satisfactionHigh: "Very",
  satisfactionComment: "Anything to add? (optional)",
  satisfactionSend: "Send",
  satisfactionSkip: "Skip",
  satisfactionThanks: "Thank you! A new conversation has started.",
  pastOpen: "Past conversations",
  pastBack: "Back to the conversation",
  pastTitle: "Your past conversations",
  pastLoading: "Loading your conversations…",
  pastEmpty: "No past conversations yet.",
  pastMore: "Show more",
  pastImported: "imported",
  pastCurrent: "current",
  pastUntitled: "Conversation without a question",
};

export type Strings = typeof en;

const ptBR: Strings = {
  launcherOpen: "Abrir o assistente",
  launcherClose: "Fechar o assistente",
  title: "Assistente",
  general: "Pergunte sobre suas tarefas",
  aboutTask: "Sobre a tarefa",
  close: "Fechar",
  newConversation: "Encerrar conversa",
  inputLabel: "Sua pergunta",
  placeholder: "Pergunte sobre suas tarefas…",
  send: "Enviar",
  quickActions: "Perguntas rápidas",
  quickSummarize: "Resumir esta tarefa",
  quickBlockers: "O que a bloqueia?",
  quickDue: "O que vence em breve?",
  askSummarize: "Resuma esta tarefa",
  askBlockers: "O que está bloqueando esta tarefa?",
  askDue: "O que vence em breve?",
  you: "Você",
  assistant: "Assistente",
  typing: "O assistente está escrevendo…",
  answerReady: "Resposta pronta",
  empty: "Olá! Pergunte sobre suas tarefas: o que está atrasado, o que vence, o que está bloqueado.",
  emptyTask: "Pergunte sobre esta tarefa ou escolha uma pergunta rápida.",
  loadingHistory: "Carregando a conversa…",
  degraded: "Parte do assistente está indisponível, então esta resposta pode estar incompleta.",
  retry: "Tentar de novo",
  errNetwork: "Não foi possível falar com o assistente. Verifique sua conexão e tente de novo.",
  errUnavailable: "O assistente está ocupado ou indisponível agora. Tente de novo em instantes.",
  errTimeout: "A resposta demorou demais.",
  errAuth: "Você não está conectado ou sua sessão expirou. Entre de novo e tente outra vez.",
  errInvalid: "O assistente não pôde aceitar esta mensagem.",
  errTooMany: "Muitas mensagens em pouco tempo. Aguarde um momento e tente de novo.",
  errDailyBudget: "Você já usou a cota de respostas do assistente de hoje. Ela renova amanhã.",
  errNotFound: "Esta conversa não existe mais. Uma nova será iniciada.",
  errGeneric: "Algo deu errado.",
  helpful: "Útil",
  notHelpful: "Não foi útil",
  feedbackComment: "O que estava errado? (opcional)",
  feedbackSend: "Enviar avaliação",
  feedbackCancel: "Cancelar",
  feedbackThanks: "Obrigado pela avaliação.",
  feedbackFailed: "Não foi possível enviar sua avaliação.",
  satisfactionQuestion: "Qual é a sua satisfação com esta conversa?",
  satisfactionScore: (n: number): string => `${n} de 5`,
  satisfactionLow: "Nada",
  satisfactionHigh: "Muito",
  satisfactionComment: "Algo a acrescentar? (opcional)",
  satisfactionSend: "Enviar",
  satisfactionSkip: "Pular",
  satisfactionThanks: "Obrigado! Uma nova conversa foi iniciada.",
  pastOpen: "Conversas anteriores",
  pastBack: "Voltar à conversa",
  pastTitle: "Suas conversas anteriores",
  pastLoading: "Carregando suas conversas…",
  pastEmpty: "Nenhuma conversa anterior ainda.",
  pastMore: "Mostrar mais",
  pastImported: "importada",
  pastCurrent: "atual",
  pastUntitled: "Conversa sem pergunta",
};

const TABLE: Record<Locale, Strings> = { en, "pt-BR": ptBR };

/** The locale to use: the attribute when it names one we have, else the browser's language. */
export function resolveLocale(attribute: string | null, browserLanguage: string | undefined): Locale {
  const wanted = (attribute || browserLanguage || "en").toLowerCase();
  return wanted.startsWith("pt") ? "pt-BR" : "en";
}

export function strings(locale: Locale): Strings {
  return TABLE[locale];
}

/** The API's language hint for a locale. */
export function languageHint(locale: Locale): Language {
  return locale === "pt-BR" ? "LANGUAGE_PT_BR" : "LANGUAGE_EN";
}

/** A message in words for an error code from the edge (gRPC code names) or the widget itself. */
export function errorText(s: Strings, code: string): string {
  switch (code) {
    case "NETWORK":
      return s.errNetwork;
    case "UNAVAILABLE":
      return s.errUnavailable;
    case "DEADLINE_EXCEEDED":
      return `${s.errTimeout} ${s.errUnavailable}`;
    case "UNAUTHENTICATED":
    case "PERMISSION_DENIED":
      return s.errAuth;
    case "INVALID_ARGUMENT":
    case "FAILED_PRECONDITION":
      return s.errInvalid;
    case "RESOURCE_EXHAUSTED":
      return s.errTooMany;
    // The edge's RESOURCE_EXHAUSTED with retryable false: the user's daily model-token budget is spent.
    case "DAILY_BUDGET":
      return s.errDailyBudget;
    case "NOT_FOUND":
      return s.errNotFound;
    default:
      return s.errGeneric;
  }
}
