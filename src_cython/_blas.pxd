# Fused float/double shims over scipy's BLAS and LAPACK (header-only: cimported by bare
# name).  Each wrapper takes its scalars by value and picks the s- or d- routine at compile
# time.  Matrices are column-major as in Fortran; a row-major (m, n) C array is the same
# memory as a column-major (n, m) matrix, which is how the ALS kernel passes its buffers.
# scipy declares every routine with non-const pointers; inputs are cast, never written.
from cython cimport floating
from scipy.linalg.cython_blas cimport dgemm, dgemv, dsyrk, sgemm, sgemv, ssyrk
from scipy.linalg.cython_lapack cimport dpotrf, dpotrs, spotrf, spotrs


cdef inline void gemv(char trans, int m, int n, floating alpha, const floating *a, int lda,
                      const floating *x, floating beta, floating *y) noexcept nogil:
    """y <- alpha op(A) x + beta y for the m x n matrix A (unit strides)."""
    cdef int one = 1
    if floating is float:
        sgemv(&trans, &m, &n, &alpha, <float *> a, &lda, <float *> x, &one, &beta, y, &one)
    else:
        dgemv(&trans, &m, &n, &alpha, <double *> a, &lda, <double *> x, &one, &beta, y, &one)


cdef inline void gemm(char transa, char transb, int m, int n, int k, floating alpha,
                      const floating *a, int lda, const floating *b, int ldb,
                      floating beta, floating *c, int ldc) noexcept nogil:
    """C <- alpha op(A) op(B) + beta C for the m x n matrix C (op(A) is m x k)."""
    if floating is float:
        sgemm(&transa, &transb, &m, &n, &k, &alpha, <float *> a, &lda, <float *> b, &ldb,
              &beta, c, &ldc)
    else:
        dgemm(&transa, &transb, &m, &n, &k, &alpha, <double *> a, &lda, <double *> b, &ldb,
              &beta, c, &ldc)


cdef inline void syrk(char uplo, char trans, int n, int k, floating alpha,
                      const floating *a, int lda, floating beta,
                      floating *c, int ldc) noexcept nogil:
    """C <- alpha A A^T + beta C (trans 'N', A is n x k) on the `uplo` triangle of C."""
    if floating is float:
        ssyrk(&uplo, &trans, &n, &k, &alpha, <float *> a, &lda, &beta, c, &ldc)
    else:
        dsyrk(&uplo, &trans, &n, &k, &alpha, <double *> a, &lda, &beta, c, &ldc)


cdef inline int potrf(char uplo, int n, floating *a, int lda) noexcept nogil:
    """Cholesky factorisation in place; returns LAPACK's info (j > 0: leading minor j is
    not positive definite)."""
    cdef int info = 0
    if floating is float:
        spotrf(&uplo, &n, a, &lda, &info)
    else:
        dpotrf(&uplo, &n, a, &lda, &info)
    return info


cdef inline int potrs(char uplo, int n, int nrhs, const floating *a, int lda,
                      floating *b, int ldb) noexcept nogil:
    """Solve A X = B in place of B, given potrf's factor of A; returns LAPACK's info."""
    cdef int info = 0
    if floating is float:
        spotrs(&uplo, &n, &nrhs, <float *> a, &lda, b, &ldb, &info)
    else:
        dpotrs(&uplo, &n, &nrhs, <double *> a, &lda, b, &ldb, &info)
    return info
