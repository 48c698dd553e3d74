# What every kernel shares (header-only: cimported by bare name): the index type of CSR
# arrays, the 64-byte aligned allocator and the status codes, all from fastmf_common.h,
# which has include guards, so this file may be cimported with any other.
from libc.stdint cimport int32_t, int64_t

# Index arrays (CSR offsets and columns) come as int32 or int64.
ctypedef fused index_t:
    int32_t
    int64_t

cdef extern from "fastmf_common.h" nogil:
    void *fmf_aligned_alloc(size_t n) noexcept
    void fmf_aligned_free(void *p) noexcept

    # Exported to Python by each kernel module as its STATUS dictionary.
    enum:
        STATUS_OK "FMF_STATUS_OK"
        STATUS_NOT_PD "FMF_STATUS_NOT_PD"
        STATUS_NONFINITE "FMF_STATUS_NONFINITE"
        STATUS_NOMEM "FMF_STATUS_NOMEM"
        STATUS_DUPLICATE "FMF_STATUS_DUPLICATE"
