# SGD epoch kernel for biased matrix factorisation.
#
# Design
# ------
# (a) Conflict-free blocks instead of Hogwild.  The ratings are laid out (by the Python
#     layer, once per fit) in a B x B grid: users and items are each split into B groups
#     through random permutations, and block (r, c) holds the ratings of user group r and
#     item group c, sorted by user.  An epoch's plan is B "strata" of B blocks that share
#     no user group and no item group (DSGD, Gemulla et al. 2011).  Threads never touch the
#     same parameter at the same time, so no locks guard the factors.
#     Instead of a barrier after each stratum, a block starts as soon as the earlier blocks
#     of its own user group and item group are done (a wavefront; see _epoch).  Each
#     parameter then receives exactly the updates of the one-thread run, in the same
#     order: the result is bit-identical for any number of threads, and a thread that the
#     OS preempts holds up only its own row and column of the grid, not the whole epoch.
# (b) Memory locality.  Inside a block the item rows of one item group are reused across
#     users (the group is sized to stay in cache) and each user's ratings are consecutive,
#     so the user row stays in L1.  (A plain C loop of this update over 1M ratings runs
#     about 3x faster in this order than in a random global order on a 2-core Xeon.)
# (c) Shuffling.  Each epoch draws, from a seeded SplitMix64 stream, the order of the
#     strata, the pairing of user groups with item groups, and for every block a random
#     start position and direction.  The whole plan is drawn serially before the parallel
#     loop, so it does not depend on scheduling either.
# (d) Losses are a compile-time fused tag (see _losses.pxd); each specialisation has one
#     loop body.
# (e) Errors never raise inside the parallel region: a non-finite loss in a block is
#     reported as a status after the epoch and the Python layer raises.
#
# The update for one rating (y, u, i), with s = mu + b_u + b_i + <p_u, q_i>, g = -dl/ds:
#     b_u <- b_u + lr (g - l2_bias b_u)        b_i <- b_i + lr (g - l2_bias b_i)
#     p_u <- p_u + lr (g q_i - l2 p_u)          q_i <- q_i + lr (g p_u - l2 q_i)
# where both factor updates use the values from before the step.
#
# This module is built with the compiler's baseline instruction set; sgd_avx2 and
# sgd_avx512 hold the same code built for AVX2 + FMA and for AVX-512 (wider vectors,
# fused multiply-adds).

include "_sgd_body.pxi"
