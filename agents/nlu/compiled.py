"""The fitted intent pipeline, compiled into a predictor for one message at a time.

sklearn is built for batches: `Pipeline.predict_proba([text])` spends ~9 ms per message, nearly all of it in
per-call validation (check_array in each of the 3 calibrated folds and each of their 11 isotonic calibrators),
not in arithmetic. The NLU agent sees one message per call, so this module reads the fitted estimators' own
attributes once and then does only the arithmetic sklearn would do, in the same order:

- features: each fitted TfidfVectorizer's own `build_analyzer()` (so preprocessing and tokenising stay
  sklearn's), term counts through `vocabulary_`, sublinear tf, `idf_`, the vectorizer's norm, concatenated in
  FeatureUnion order (with its transformer weights);
- CalibratedClassifierCV over a linear model: per calibrated fold, decision = x . coef_.T + intercept_, each
  class's IsotonicRegression as scipy's interp1d would compute it after clipping to the training range, the
  row normalised (the positive class and its complement when binary; else divided by the row sum, uniform
  when that is 0), values a hair above 1 set to 1, then the mean over the folds;
- LogisticRegression: softmax of the decision, or the logistic of it when binary.

Training stays plain sklearn; `compile_pipeline` runs after fit and after load, and raises `NotCompilable`
for any shape it does not reproduce exactly, so the caller can keep sklearn's path for it. Equality with
`pipeline.predict_proba` is checked by tests/agents/test_nlu_compiled.py.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float64]


class NotCompilable(Exception):
    """The fitted pipeline has a shape this module does not reproduce exactly; use sklearn for it."""


class TextPredictor(Protocol):
    """Class probabilities for one message, in the order of `classes`."""

    classes: tuple[int, ...]

    def predict_proba(self, text: str) -> Sequence[float]: ...


class _Vectorizer:
    """One fitted TfidfVectorizer, for one text: term index -> weight."""

    def __init__(self, fitted: Any, offset: int, weight: float) -> None:
        if getattr(fitted, "norm", None) not in ("l2", "l1", None):
            raise NotCompilable(f"norm {fitted.norm!r}")
        if getattr(fitted, "dtype", np.float64) is not np.float64:
            raise NotCompilable(f"vectorizer dtype {fitted.dtype!r}")
        self._analyze: Callable[[str], list[str]] = fitted.build_analyzer()
        self._vocabulary: dict[str, int] = fitted.vocabulary_
        use_idf = bool(getattr(fitted, "use_idf", False))
        self._idf: list[float] | None = [float(v) for v in fitted.idf_] if use_idf else None
        self._binary = bool(fitted.binary)
        self._sublinear = bool(getattr(fitted, "sublinear_tf", False))
        self._norm: str | None = getattr(fitted, "norm", None)
        self._offset = offset
        self._weight = weight
        self.width = len(self._vocabulary)

    def add_weights(self, text: str, indices: list[int], values: list[float]) -> None:
        """Append this vectorizer's non-zero features for `text` (global column, value) to the two lists."""
        found = Counter(map(self._vocabulary.get, self._analyze(text)))
        found.pop(None, None)  # terms the model never saw
        counts: dict[int, int] = found  # type: ignore[assignment]  # None was the only other key
        if not counts:
            return
        columns = list(counts)
        if self._binary:
            tf = [1.0] * len(columns)
        elif self._sublinear:
            tf = [math.log(n) + 1.0 for n in counts.values()]
        else:
            tf = [float(n) for n in counts.values()]
        idf = self._idf
        weighted = tf if idf is None else [t * idf[c] for t, c in zip(tf, columns, strict=True)]
        if self._norm == "l2":
            length = math.sqrt(sum(w * w for w in weighted))
        elif self._norm == "l1":
            length = sum(abs(w) for w in weighted)
        else:
            length = 0.0
        if length != 0.0:
            weighted = [w / length for w in weighted]
        if self._weight != 1.0:
            weighted = [w * self._weight for w in weighted]
        offset = self._offset
        indices.extend(c + offset for c in columns)
        values.extend(weighted)


class _Features:
    """A fitted FeatureUnion of TfidfVectorizers (or one TfidfVectorizer) as sparse (columns, values)."""

    def __init__(self, fitted: Any) -> None:
        parts: list[tuple[Any, float]]
        if hasattr(fitted, "transformer_list"):
            weights = fitted.transformer_weights or {}
            parts = []
            for name, transformer in fitted.transformer_list:
                if transformer == "drop":
                    continue
                parts.append((transformer, float(weights.get(name, 1.0))))
        else:
            parts = [(fitted, 1.0)]
        self._vectorizers: list[_Vectorizer] = []
        offset = 0
        for transformer, weight in parts:
            if type(transformer).__name__ != "TfidfVectorizer":
                raise NotCompilable(f"feature step {type(transformer).__name__}")
            vectorizer = _Vectorizer(transformer, offset, weight)
            self._vectorizers.append(vectorizer)
            offset += vectorizer.width
        self.width = offset

    def transform(self, text: str) -> tuple[npt.NDArray[np.intp], Vector]:
        indices: list[int] = []
        values: list[float] = []
        for vectorizer in self._vectorizers:
            vectorizer.add_weights(text, indices, values)
        return np.array(indices, dtype=np.intp), np.array(values, dtype=np.float64)


class _Calibrators:
    """Every fold's IsotonicRegression(out_of_bounds="clip"), evaluated together as scipy's interp1d would.

    Each calibrator's thresholds are one row, padded with +inf, so locating a value is one comparison for all
    of them (the count of thresholds below it is bisect_left); the interpolation is interp1d's own formula,
    slope * (value - x_lo) + y_lo with the index clipped to [1, n - 1], after clipping to the training range.
    """

    def __init__(self, fitted: Sequence[Any]) -> None:
        xs, ys = [], []
        for calibrator in fitted:
            if calibrator.out_of_bounds != "clip":
                raise NotCompilable(f"isotonic out_of_bounds {calibrator.out_of_bounds!r}")
            x = [float(v) for v in calibrator.X_thresholds_]
            y = [float(v) for v in calibrator.y_thresholds_]
            if len(y) == 1:  # sklearn predicts the constant: a flat segment does the same
                x, y = [x[0], x[0] + 1.0], [y[0], y[0]]
            xs.append(x)
            ys.append(y)
        width = max(len(x) for x in xs)
        self._x = np.full((len(xs), width), np.inf)
        self._y = np.zeros((len(xs), width))
        for row, (x, y) in enumerate(zip(xs, ys, strict=True)):
            self._x[row, : len(x)] = x
            self._y[row, : len(y)] = y
        self._last = np.array([len(x) - 1 for x in xs])
        self._low = np.array([float(c.X_min_) for c in fitted])
        self._high = np.array([float(c.X_max_) for c in fitted])
        self._rows = np.arange(len(xs))

    def __call__(self, values: Vector) -> Vector:
        values = np.minimum(np.maximum(values, self._low), self._high)
        hi = np.minimum(np.maximum((self._x < values[:, None]).sum(axis=1), 1), self._last)
        lo = hi - 1
        rows = self._rows
        x_lo, x_hi = self._x[rows, lo], self._x[rows, hi]
        y_lo, y_hi = self._y[rows, lo], self._y[rows, hi]
        slope: Vector = (y_hi - y_lo) / (x_hi - x_lo)
        interpolated: Vector = slope * (values - x_lo) + y_lo
        return interpolated


class CompiledCalibrated:
    """A fitted CalibratedClassifierCV (isotonic, over linear models) behind fitted features."""

    def __init__(self, features: Any, model: Any) -> None:
        self._features = _Features(features)
        classes = np.asarray(model.classes_)
        self.classes = tuple(int(c) for c in classes)
        coefs: list[Vector] = []
        intercepts: list[Vector] = []
        calibrators: list[Any] = []
        folds: list[int] = []
        positions: list[int] = []
        for fold, fitted in enumerate(model.calibrated_classifiers_):
            if fitted.method != "isotonic":
                raise NotCompilable(f"calibration method {fitted.method!r}")
            estimator = fitted.estimator
            if type(estimator).__name__ not in ("LinearSVC", "LogisticRegression", "RidgeClassifier"):
                raise NotCompilable(f"calibrated estimator {type(estimator).__name__}")
            coef = np.atleast_2d(np.asarray(estimator.coef_, dtype=np.float64))
            if coef.shape[1] != self._features.width:
                raise NotCompilable("features and model disagree on the number of columns")
            # sklearn pairs the i-th decision column with the i-th calibrator and with the position of the
            # estimator's i-th class among all classes (a zip: the shortest wins); when there are two
            # classes, the one column is the second class's.
            at = np.searchsorted(classes, estimator.classes_) + (1 if len(classes) == 2 else 0)
            used = min(coef.shape[0], len(fitted.calibrators), len(at))
            coefs.append(coef[:used])
            intercepts.append(
                np.broadcast_to(np.asarray(estimator.intercept_, np.float64), coef.shape[:1])[:used]
            )
            calibrators.extend(fitted.calibrators[:used])
            folds.extend([fold] * used)
            positions.extend(int(p) for p in at[:used])
        if not calibrators:
            raise NotCompilable("no calibrated classifiers")
        self._n_folds = len(model.calibrated_classifiers_)
        # Every fold's coefficients side by side, one row per feature: one gather and one product per text.
        self._weights = np.ascontiguousarray(np.concatenate(coefs).T)
        self._intercepts = np.concatenate(intercepts)
        self._calibrate = _Calibrators(calibrators)
        self._cells = (np.array(folds), np.array(positions))

    def predict_proba(self, text: str) -> list[float]:
        indices, values = self._features.transform(text)
        decisions = values @ self._weights[indices] + self._intercepts
        n_classes = len(self.classes)
        proba = np.zeros((self._n_folds, n_classes))
        proba[self._cells] = self._calibrate(decisions)
        if n_classes == 2:
            proba[:, 0] = 1.0 - proba[:, 1]
        else:
            total = proba.sum(axis=1, keepdims=True)
            proba = np.divide(proba, total, out=np.full_like(proba, 1 / n_classes), where=total != 0)
        proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
        return (proba.sum(axis=0) / self._n_folds).tolist()  # type: ignore[no-any-return]


class CompiledLogistic:
    """A fitted LogisticRegression behind fitted features: softmax of the decision (logistic when binary)."""

    def __init__(self, features: Any, model: Any) -> None:
        self._features = _Features(features)
        self.classes = tuple(int(c) for c in model.classes_)
        coef = np.asarray(model.coef_, dtype=np.float64)
        if coef.shape[1] != self._features.width:
            raise NotCompilable("features and model disagree on the number of columns")
        self._weights = np.ascontiguousarray(coef.T)
        self._intercepts = np.asarray(model.intercept_, dtype=np.float64)

    def predict_proba(self, text: str) -> list[float]:
        indices, values = self._features.transform(text)
        decision = values @ self._weights[indices] + self._intercepts
        if len(self.classes) <= 2:
            positive = 1.0 / (1.0 + math.exp(-float(decision[0])))
            return [1.0 - positive, positive]
        shifted = np.exp(decision - decision.max())
        return (shifted / shifted.sum()).tolist()  # type: ignore[no-any-return]


def compile_pipeline(pipeline: Any) -> TextPredictor:
    """The compiled predictor of a fitted Pipeline([features, model]); NotCompilable when it has no exact one."""
    steps = getattr(pipeline, "steps", None)
    if not steps or len(steps) != 2:
        raise NotCompilable("expected a two-step pipeline: features, then the model")
    features, model = steps[0][1], steps[1][1]
    kind = type(model).__name__
    if kind == "CalibratedClassifierCV":
        return CompiledCalibrated(features, model)
    if kind == "LogisticRegression":
        return CompiledLogistic(features, model)
    raise NotCompilable(f"model {kind}")
