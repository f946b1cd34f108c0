"""FashionLeNet: float model, int8 post-training quantization, integer reference, RTL export.

The golden chain is float model -> PyTorch quantized model (qnnpack) -> integer
reference (:mod:`model.reference`) -> RTL. The test benches import the reference
from here; they never re-implement the arithmetic.
"""
