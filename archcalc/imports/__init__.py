"""Frontends that capture a model from elsewhere (torch, ONNX) into an ImportedGraph, then an ordinary spec."""
