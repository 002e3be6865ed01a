"""The model kinds of the course, by name, in the order the chapters introduce them.

``KINDS`` is read from the model registry (:mod:`seq2code.models.registry`), where every model
module declares its kinds; it is computed on first use.
"""


def __getattr__(name: str):
    if name == "KINDS":
        from seq2code.models.registry import kind_names

        return kind_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
