"""seq2code: the library of the seq2code course.

Sequence-to-sequence models that write a line of Python from an English description,
grown chapter by chapter in the course's notebooks. See ``CONTRIBUTING.md`` for the map
of modules.
"""

__version__ = "0.1.0"
