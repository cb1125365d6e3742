"""What the command lines print: messages kept to one harmless line, and a stdout that outlives its
reader."""
import os


def last_line(error):
    """The last non-empty line of an exception's message (where a wrapped traceback ends), or its type."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def printable(text):
    """`text` with its control characters escaped (\\n, \\x1b, ...): a message stays one line and
    cannot move the cursor or recolour the terminal, whatever a file name or key holds."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


class ReaderGone:
    """A text stream (stdout) that drops what it cannot write once its reader has gone, e.g. in
    `main.py --dry-run | head -1`, instead of raising BrokenPipeError: from then on it writes to
    /dev/null, and the command goes on and ends as it would have."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            self._to_null()
            return len(text)

    def flush(self):
        try:
            self.stream.flush()
        except BrokenPipeError:
            self._to_null()

    def _to_null(self):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, self.stream.fileno())
        os.close(null)

    def __getattr__(self, name):
        return getattr(self.stream, name)
