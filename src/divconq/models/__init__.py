"""The networks: presets built from scratch, custom layers, pretrained musicnn.

Architectures only; imports nothing but :mod:`divconq.shared`, so that the data
stage's embedding job can run a pretrained network. TensorFlow is imported inside
functions, so importing a module here is cheap.
"""
