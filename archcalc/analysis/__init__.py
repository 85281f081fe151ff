"""The passes over the graph: records, sizes, memory, receptive field, deconv, explain, conventions."""
