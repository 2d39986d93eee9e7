"""eie-sim: a cycle-accurate model of the EIE sparse accelerator (Han et al., ISCA 2016)."""

__version__ = "0.1.0"
