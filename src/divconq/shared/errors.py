"""Exceptions shared by the modules; import-light so any command can catch them."""


class AudioError(Exception):
    """A file that cannot be used as audio; the message names the file and the reason.

    ``reason`` is for the user; ``detail`` keeps the decoders' own words, for logs.
    """

    def __init__(self, path, reason, detail=""):
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{path}: {reason}")


class DamagedFileError(ValueError):
    """A file the workflow wrote that no longer reads back whole (truncated, bit rot,
    unreadable); the one-line message names it, says it is damaged and how to rebuild it."""

    def __init__(self, path, reason, hint="delete it and rerun the command that wrote it"):
        self.path = str(path)
        self.reason = " ".join(str(reason).split())
        self.hint = hint
        super().__init__(f"{path}: damaged file ({self.reason}); {hint}")


class DatasetError(Exception):
    """The dataset as a whole is unusable (missing folder, no tracks, empty label)."""


class PretrainedWeightsMissing(RuntimeError):
    """Pretrained weights that are not installed; the message names the package that
    carries them and the command that installs it."""
