# The top-n kernel (see topk.pyx) compiled with AVX-512 (F, CD, VL, BW, DQ).
# Import it only after checking the CPU: fastmf._dispatch does.

include "_topk_body.pxi"
