# Top-n selection of items for a batch of query rows, without a rows x items score matrix.
#
# Design
# ------
# (a) Scores come in tiles.  Query rows are taken row_tile at a time (one tile is one unit
#     of parallel work) and candidate items item_tile at a time; the scores of a (row
#     tile, item tile) pair, item biases included, are written into a per-thread buffer
#     and the selection (b) reads them at once, while they are in L2 (the Python layer
#     sizes the tiles from the cache sizes).  The scores come from a register-blocked
#     kernel (fastmf_tile.h) over the candidates packed once per call into panels: on
#     the AVX-512 build it runs at the FMA units' peak, about three times OpenBLAS's
#     sgemm on the same scores (which picks AVX2 kernels on a Zen 5 core).  The buffer
#     is the only O(tile) memory; nothing O(rows x items) is ever allocated.
# (b) Selection is a bounded min-heap per query row, stored directly in that row of the
#     output arrays (so n may be as large as the number of items without extra memory).
#     The heap root is the worst kept entry.  Once the heap is full, the scores of a
#     row are taken GROUP at a time: one vector compare against the root gives a bit
#     mask of the scores above it, and only those are looked at (most groups have none
#     once the heap holds good items); only they are checked against the exclusion list
#     (d) and pushed.  All 20,000 users of synth 1M, k=64, n=10, training items
#     excluded, one thread: 0.46 s with a GEMM call and a comparison per score, 0.11 s
#     now, against 0.15 s for OpenBLAS's sgemm of the same scores alone.  A final
#     in-place heapsort orders the row.
# (c) Ranking is total and deterministic: higher score first, equal scores by lower item
#     id.  Each score sums its products in factor order whatever the tiling, so the result
#     does not depend on the thread count or the tile sizes.
# (d) Exclusions (e.g. items a user has already seen) come as CSR rows whose column
#     indices are sorted (the Python layer guarantees it).  Candidate ids are ascending
#     too, so each row's exclusion list is merged with the candidates by one pointer that
#     only moves forward: O(nnz(row) + n_candidates) per row, with no per-row mark array.
#     An optional per-row id (e.g. the query item itself for similar-item lists) is
#     excluded as well.
# (e) Rows with fewer than n admissible items are padded with id -1 and score -inf.
# (f) Per-thread scratch is allocated once per thread inside the parallel block.  An
#     allocation failure is recorded in a shared flag and reported by the Python layer;
#     nothing raises inside the parallel region.
# (g) The schedule is dynamic: every tile costs about the same, but the kernel often
#     shares cores with other work, and a result never depends on the schedule (c).
#
# (h) pair_counts serves per-user ROC AUC, which needs every item's rank rather than a
#     top n.  Instead of sorting all items it counts, for each row, (negative, positive)
#     pairs ordered the wrong way and ties: pass 1 collects the positives' scores and
#     sorts them, pass 2 binary-searches every negative among them, O(n_items log P) per
#     row.  Pass 2 recomputes the same GEMM tiles with the same arguments, so positives
#     and negatives are scored by bit-identical arithmetic and exact ties stay ties.
#
# BLAS: pair_counts computes its tiles with sgemm/dgemm called from OpenMP threads, so the
# caller must keep BLAS on one thread (fastmf._threads.single_threaded_blas).
#
# This module is built with the compiler's baseline instruction set; topk_avx2 and
# topk_avx512 hold the same code built for AVX2 + FMA and for AVX-512 (the selection
# pass compares a whole group of scores with one vector instruction), chosen at run time
# (fastmf._dispatch).

include "_topk_body.pxi"
