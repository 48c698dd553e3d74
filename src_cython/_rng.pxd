# Seeded random numbers for nogil code (header-only).
#
# SplitMix64 (Steele, Lea & Flood, 2014): one 64-bit word of state, a Weyl step plus an
# avalanche mix.  It passes BigCrush, has no bad seeds (zero included) and no platform
# RAND_MAX.  Each stream's state lives with the caller; streams are seeded from the
# estimator's random_state in Python and tied to fixed units of work, never to thread ids,
# so results do not depend on how OpenMP schedules threads.
from libc.stdint cimport uint64_t


cdef inline uint64_t rng_next(uint64_t *state) noexcept nogil:
    """Next 64 random bits; advances *state."""
    state[0] += <uint64_t>0x9E3779B97F4A7C15
    cdef uint64_t z = state[0]
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EB
    return z ^ (z >> 31)


cdef inline uint64_t rng_below(uint64_t *state, uint64_t n) noexcept nogil:
    """Uniform integer in [0, n) for 0 < n <= 2**32 (Lemire's multiply-shift)."""
    return ((rng_next(state) >> 32) * n) >> 32


cdef inline double rng_uniform(uint64_t *state) noexcept nogil:
    """Uniform double in [0, 1) with 53 random bits."""
    return <double>(rng_next(state) >> 11) * (1.0 / 9007199254740992.0)
