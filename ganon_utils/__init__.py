"""ganon_utils: the library behind the GANonymization reproducibility notebooks.

One module (or sub-package) per pipeline stage, in data-flow order:
``demo_data`` -> ``preprocess`` -> (train, anonymize, evaluate: later stages).
"""

__version__ = "0.1.0"
