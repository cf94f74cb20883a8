"""Exceptions shared by the modules; import-light so any command can catch them."""


class AudioError(Exception):
    """A file that cannot be used as audio; the message names the file and the reason."""

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")
