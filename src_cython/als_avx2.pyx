# The ALS kernel (see als.pyx) compiled with -mavx2 -mfma (/arch:AVX2 with MSVC).
# Import it only after checking the CPU: fastmf._dispatch does.

include "_als_body.pxi"
