# The SGD kernel (see sgd.pyx) compiled with -mavx2 -mfma (/arch:AVX2 with MSVC).
# Import it only after checking the CPU: fastmf._dispatch does.

include "sgd.pyx"
