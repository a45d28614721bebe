"""Writers: turn result objects into files inside an :class:`~oipviz.core.outputs.OutputFolder`.

They never run TensorFlow; everything they draw comes from the result they are given.
"""
