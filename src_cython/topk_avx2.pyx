# The top-n kernel (see topk.pyx) compiled with -mavx2 -mfma (/arch:AVX2 with MSVC).
# Import it only after checking the CPU: fastmf._dispatch does.

include "_topk_body.pxi"
