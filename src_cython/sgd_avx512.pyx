# The SGD kernel (see sgd.pyx) compiled for AVX-512 (F, CD, VL, BW, DQ) with 512-bit
# vectors preferred (/arch:AVX512 with MSVC).  Import it only after checking the CPU:
# fastmf._dispatch does.  At k=32 it runs about as fast as the AVX2 build (a factor row
# is two vectors either way); from k=64 on it is 10-30% faster.

include "_sgd_body.pxi"
