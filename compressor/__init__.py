"""Deep Compression for fully connected layers, encoded for the EIE accelerator.

Data flow: weights -> prune -> quantize (weight sharing) -> encode (EIE CSC,
PE-interleaved, packed) -> Huffman-coded storage in a ``.eie`` file.
"""

from compressor.errors import EieConfigError, EieError, EieFormatError, EieInputError

__all__ = ["EieError", "EieFormatError", "EieInputError", "EieConfigError"]
