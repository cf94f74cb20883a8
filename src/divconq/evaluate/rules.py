"""Track rules: how the window scores of a track make one track prediction.

The one registry of rules. Evaluation (:func:`divconq.evaluate.evaluation.rule_scores`),
``divconq predict`` (its ``--rule`` choices and shown scores), the workflow's
``predict.rule`` check and the accuracy tables' levels and labels all read
:data:`RULES`; a new rule is one more entry here.

Every rule has

- a score function: window scores, shape (n_windows, n_classes), to one score
  per class, shape (n_classes,); the track prediction is its argmax;
- a display function: per-class track scores shown to a user, which rank the
  classes as the rule does (up to ties) but read as probabilities (they sum to 1);
- a table label, for the accuracy tables (level ``track_<name>``).

A whole-clip model (``input: clip``) has one score per track, that of its clip;
its track "rule" is :data:`CLIP`, which is not a rule a user chooses.

numpy is imported inside the functions: the command line's parser lists the rules
in every per-track job, and the ``mp3`` job does not otherwise import numpy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: Probabilities are floored here before the log of ``mean_log`` (softmax can underflow to 0).
LOG_FLOOR = 1e-12


class UnknownRuleError(ValueError):
    """A rule name that is not in :data:`RULES`."""


@dataclass(frozen=True)
class Rule:
    """One track rule.

    Attributes
    ----------
    name : str
        The one spelling, on the command line, in config, in tables and in code.
    score : callable
        ``score(scores)``: float64 (n_windows, n_classes) -> float64 (n_classes,).
    display : callable
        ``display(scores)``: float64 (n_windows, n_classes) -> float64 (n_classes,),
        non-negative, summing to 1.
    label : str
        What the rule's level means in the accuracy tables.
    """

    name: str
    score: Callable
    display: Callable
    label: str


# Score and display functions: float64 (n_windows, n_classes) -> float64 (n_classes,).


def _sum(scores):
    return scores.sum(axis=0)


def _mean(scores):
    return scores.mean(axis=0)


def _mean_log(scores):
    import numpy as np

    return np.log(np.maximum(scores, LOG_FLOOR)).mean(axis=0)


def _normalized_geometric_mean(scores):
    import numpy as np

    mean_log = _mean_log(scores)
    e = np.exp(mean_log - mean_log.max())
    return e / e.sum()


def _votes(scores):
    import numpy as np

    return np.bincount(scores.argmax(axis=1), minlength=scores.shape[1]).astype(np.float64)


def _vote(scores):
    """Votes plus the summed score scaled into [0, 0.5): ties go to the largest sum."""
    import numpy as np

    summed = scores.sum(axis=0)
    # Softmax scores are >= 0, so summed <= n_windows * max: the tie-breaker stays below 1 vote.
    scale = 2.0 * max(float(np.abs(summed).max()), 1e-300)
    return _votes(scores) + summed / scale


def _vote_share(scores):
    return _votes(scores) / len(scores)


def _max(scores):
    return scores.max(axis=0)


def _max_share(scores):
    best = _max(scores)
    return best / best.sum()


#: Every rule a user can choose, by name; the first (``sum``) is the article's and the default.
RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule("sum", _sum, _mean, "track, sum of scores (article)"),
        Rule("mean_log", _mean_log, _normalized_geometric_mean, "track, mean log-probability"),
        Rule("vote", _vote, _vote_share, "track, majority vote"),
        # For tracks that hold one strong section: the best window of each class.
        Rule("max", _max, _max_share, "track, maximum window score"),
    )
}
#: The track prediction of a model with one input per track (the whole 30-s clip, or
#: the mean embedding of the track's patches): the scores of that one input.
CLIP = Rule("clip", _sum, _mean, "track, one input per track (30-s clip or mean embedding)")
#: The default rule.
DEFAULT = "sum"


def names() -> tuple[str, ...]:
    """Names of the rules a user can choose, in table order."""
    return tuple(RULES)


def get(name: str, clip: bool = True) -> Rule:
    """The rule called ``name`` (:data:`CLIP` too, unless ``clip`` is False).

    Raises
    ------
    UnknownRuleError
        For any other name, with the closest known name when there is one.
    """
    if name in RULES:
        return RULES[name]
    if clip and name == CLIP.name:
        return CLIP
    raise UnknownRuleError(unknown_message(name))


def unknown_message(name) -> str:
    """``unknown track rule 'mean-log'; did you mean 'mean_log'? (known: ...)``."""
    from divconq.shared.config import closest

    known = names()
    text = str(name)
    close = [n for n in known if n == text.replace("-", "_").lower()]
    guess = close[0] if close else closest(text, known)
    hint = f"; did you mean {guess!r}?" if guess else ""
    return f"unknown track rule {text!r}{hint} (known: {', '.join(known)})"


def check_config(config: dict) -> None:
    """Check the workflow config's ``predict.rule`` against the registry.

    Raises
    ------
    UnknownRuleError
        Naming the key, the value and the closest known rule.
    """
    predict = config.get("predict") or {}
    if "rule" in predict and predict["rule"] not in RULES:
        raise UnknownRuleError(f"config key predict.rule: {unknown_message(predict['rule'])}")
