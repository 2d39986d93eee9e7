"""Deep Compression for fully connected layers, encoded for the EIE accelerator.

Data flow: weights -> prune -> quantize (weight sharing) -> encode (EIE CSC,
PE-interleaved, packed) -> Huffman-coded storage in a ``.eie`` file.
"""

from compressor.errors import EieConfigError, EieError, EieFormatError, EieInputError
from compressor.numba_cache import configure as _configure_numba_cache

_configure_numba_cache()

__all__ = ["EieError", "EieFormatError", "EieInputError", "EieConfigError"]
