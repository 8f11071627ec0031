"""One adapter per framework: canonical params in, NumPy out.

A network's framework file subclasses the adapter and names its native model; the
adapter does the conversions, the loss, the gradients and the training loop the way
that framework's users write them.
"""
