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
from bisect import bisect_left
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
        self._vocabulary: dict[str, int] = dict(fitted.vocabulary_)
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
        vocabulary = self._vocabulary
        counts: dict[int, int] = {}
        for term in self._analyze(text):
            column = vocabulary.get(term)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
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


class _Isotonic:
    """A fitted IsotonicRegression(out_of_bounds="clip") on one value, computed as scipy's interp1d does."""

    def __init__(self, fitted: Any) -> None:
        if fitted.out_of_bounds != "clip":
            raise NotCompilable(f"isotonic out_of_bounds {fitted.out_of_bounds!r}")
        self._x = [float(v) for v in fitted.X_thresholds_]
        self._y = [float(v) for v in fitted.y_thresholds_]
        self._low = float(fitted.X_min_)
        self._high = float(fitted.X_max_)

    def __call__(self, value: float) -> float:
        x, y = self._x, self._y
        if len(y) == 1:
            return y[0]
        value = min(max(value, self._low), self._high)
        hi = min(max(bisect_left(x, value), 1), len(x) - 1)
        lo = hi - 1
        slope = (y[hi] - y[lo]) / (x[hi] - x[lo])
        return slope * (value - x[lo]) + y[lo]


class _CalibratedFold:
    """One `_CalibratedClassifier`: where its decision columns sit, and its calibrators mapped to classes."""

    def __init__(self, fitted: Any, classes: npt.NDArray[Any], first_column: int) -> None:
        if fitted.method != "isotonic":
            raise NotCompilable(f"calibration method {fitted.method!r}")
        estimator = fitted.estimator
        if type(estimator).__name__ not in ("LinearSVC", "LogisticRegression", "RidgeClassifier"):
            raise NotCompilable(f"calibrated estimator {type(estimator).__name__}")
        coef = np.asarray(estimator.coef_, dtype=np.float64)
        self.coef = coef if coef.ndim == 2 else coef.reshape(1, -1)
        self.intercept = np.broadcast_to(
            np.asarray(estimator.intercept_, dtype=np.float64), (self.coef.shape[0],)
        )
        self.first_column = first_column
        # sklearn pairs the i-th decision column with the i-th calibrator and with the position of the
        # estimator's i-th class among all classes (zip: the shortest wins).
        positions = np.searchsorted(classes, estimator.classes_)
        self.calibrated = [
            (int(position), first_column + column, _Isotonic(calibrator))
            for column, (position, calibrator) in enumerate(
                zip(positions[: self.coef.shape[0]], fitted.calibrators, strict=False)
            )
        ]


class CompiledCalibrated:
    """A fitted CalibratedClassifierCV (isotonic, over linear models) behind fitted features."""

    def __init__(self, features: Any, model: Any) -> None:
        self._features = _Features(features)
        self._classes = np.asarray(model.classes_)
        self.classes = tuple(int(c) for c in self._classes)
        folds: list[_CalibratedFold] = []
        column = 0
        for fitted in model.calibrated_classifiers_:
            fold = _CalibratedFold(fitted, self._classes, column)
            folds.append(fold)
            column += fold.coef.shape[0]
        if not folds:
            raise NotCompilable("no calibrated classifiers")
        if folds[0].coef.shape[1] != self._features.width:
            raise NotCompilable("features and model disagree on the number of columns")
        self._folds = folds
        # Every fold's coefficients side by side, one row per feature: one gather and one product per text.
        self._weights = np.ascontiguousarray(np.concatenate([f.coef for f in folds]).T)
        self._intercepts = np.concatenate([f.intercept for f in folds])

    def predict_proba(self, text: str) -> list[float]:
        indices, values = self._features.transform(text)
        decisions = (values @ self._weights[indices] + self._intercepts).tolist()
        n_classes = len(self.classes)
        mean = [0.0] * n_classes
        for fold in self._folds:
            proba = [0.0] * n_classes
            for position, column, calibrator in fold.calibrated:
                if n_classes == 2:
                    position += 1  # binary: the one decision column is the second class's
                proba[position] = calibrator(decisions[column])
            if n_classes == 2:
                proba[0] = 1.0 - proba[1]
            else:
                total = sum(proba)
                proba = [p / total for p in proba] if total != 0 else [1.0 / n_classes] * n_classes
            for k, p in enumerate(proba):
                mean[k] += 1.0 if 1.0 < p <= 1.0 + 1e-5 else p
        return [m / len(self._folds) for m in mean]


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
