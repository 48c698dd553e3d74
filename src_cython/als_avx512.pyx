# The ALS kernel (see als.pyx) compiled for AVX-512 (F, CD, VL, BW, DQ).  Import it
# only after checking the CPU: fastmf._dispatch does.

include "_als_body.pxi"
