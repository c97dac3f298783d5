// Package losses is the A-InfoNCE loss family of "Adversarial Contrastive Learning via
// Asymmetric InfoNCE" (Yu et al., ECCV 2022) as pure GoMLX graph functions, with the
// official code's quirks behind explicit flags. The spec is shared/docs/ainfonce-spec.md
// (sections cited as §n); the golden vectors computed by the official code are matched in
// golden_test.go.
//
// # Losses
//
// Every loss is a graph function on GoMLX nodes, works in float32 and float64, and takes a
// Config (Variant Base/IP/HN/IPHN, α, λ, β, τ⁺, t, t_b, Quirks; start from DefaultConfig):
//
//   - RoCLNTXent (rocl.go): RoCL's 3-view NT-Xent, rows [aug1; aug2; adv], cosine with
//     the contrast side detached (§3.1), with IP/HN/IPHN (§3.3–§3.5); RoCLTwoViewNTXent
//     is the 2-view loss RoCL's attack ascends and its regulariser adds.
//   - AdvCLSupCon (advcl.go): AdvCL's SupCon, features [B][V][d] views (adv, aug1, aug2,
//     HFC), scaled by t/t_b, with IP/HN/IPHN (§3.1, §3.6).
//   - ACLDSNTXent and AInfoNCEACLDS (aclds.go): ACL(DS)'s two-stream NT-Xent (§4.3) and
//     this project's A-InfoNCE extension of it (a clean/adversarial cross term with IP/HN
//     applied to it). The extension is not in the official code: label its results "ours".
//     AnnealedACLDS (annealed_aclds.go) weighs the two streams as DynACL does (§10).
//   - AInfoNCE (layout.go) dispatches on a Layout.
//   - CrossEntropy and AdvCLPseudoLabelCE (cross_entropy.go): the classification losses of
//     finetuning and of AdvCL's pseudo-label heads.
//
// Building blocks: InferiorPositive (the IP mixing λ[α·ℓ_sg(c→a) + (1−α)·ℓ_sg(a→c)]),
// HardNegative (HCL reweighting with τ⁺ debiasing and the clamp floor), AdaptiveAlpha
// (AdvCL-IP's per-batch α, §3.3; AdaptiveAlphaGraph is its in-graph form), and for
// notebooks PairTerms, GradientShares and AnalyzePairs (pair_terms.go): the per-pair loss
// terms and the share of the gradient norm reaching clean vs adversarial rows, and
// NegativeWeights (negative_weights.go): the weight each loss gives its negatives.
//
// α may be a float (Config.Alpha) or a scalar node (Config.AlphaNode), so the adaptive α
// can be fed per batch without rebuilding the graph.
//
// # Official vs corrected
//
// The official code (yqy2001/A-InfoNCE at b28763e; VITA-Group ACL for ACL-DS) has
// behaviours that depart from the method as described. The default, Quirks = Official
// (the zero value), reproduces each of them exactly: the shared golden vectors are
// computed by the official code, and the paper's Table 1 was produced by it, so parity
// requires them. Each Fix* flag corrects one quirk; Corrected sets them all.
//
//	quirk (flag)            official behaviour (default)                corrected behaviour
//	----------------------  ------------------------------------------  ------------------------------------------
//	HN normaliser           (imp·e_neg)/imp.mean(-1): column c is       each row's reweighted negatives divided by
//	(FixHNNormaliser)       divided by the mean of row c, the mean      that row's mean weight over its N negatives
//	                        taken over all VB columns incl. (1e-9)^β    (HCL); w = e^β exactly, no 1e-9
//	                        entries; w = exp(β·log(e_neg + 1e-9))
//	HN denominator          AdvCL: e/(pos + Ng) with [VB] vectors       ℓ_rc = −log(e_rc/(pos_r + Ng_r))
//	(FixHNDenominator)      broadcast over columns: ℓ_rc uses            (RoCL is row-wise already; flag is a
//	                        pos_c + Ng_c                                no-op there)
//	HN clamp floor          Ng ≥ N·e^{−1/0.5}: hard-coded 0.5, applied  Ng ≥ N·exp(−1/t − m_r): all negatives at
//	(FixClampFloor)         after AdvCL's max shift m = 1/t, so it      cosine −1 in the shifted scale, with the
//	                        sits at cosine 0 and binds often            configured t (RoCL at t=0.5: unchanged)
//	AdvCL block overwrite   without IP, the clean-anchor→adv-positive   the clean anchors keep their own ℓ
//	(FixBlockOverwrite)     entries are replaced by the transposed      (original LijieFan/AdvCL)
//	                        adv-anchor entries (losses.py:263-266)
//	AdvCL λ² aliasing       without IP, in-place view aliasing scales   λ applied once
//	(FixLambdaSquared)      the clean-anchor block by λ² (λ=1 in all
//	                        official scripts, so invisible there)
//	ACL self-similarity     NT-Xent denominator = column sum − e^{1/t}  diagonal masked out (differs only when a
//	(FixSelfSimilarity)     (assumes every cos(x,x) = 1)                row norm is < 1e-4, see the cosine clamp)
//
// Which quirks the golden vectors exercise: the HN normaliser (every HN/IPHN case), the
// AdvCL HN denominator and block overwrite (AdvCL HN/IPHN, AdvCL base), the clamp floor
// (advcl-hn-b10-d16-13, the one case where the official floor binds). The λ² aliasing and
// the ACL self-similarity are not exercised by any golden case (λ = 1 there; no ACL case);
// they are checked against an independent loop reference instead (reference_test.go).
//
// A consequence worth knowing for IPHN: with the official column-wise normaliser and
// denominator, a pair's loss depends on the other rows' normalisers, so at α = 0 the
// clean/adversarial pairs still send some gradient to the clean rows (through those rows'
// own HN normalisers). With FixHNNormaliser|FixHNDenominator (or Corrected) α = 0 routes the
// cross-pair gradient to the adversarial rows only, as in plain IP. GradientShares shows it.
//
// Unchanged in both modes (they are the methods, not quirks): RoCL's always-detached
// contrast side and its 1e-8 terms, the detached max shift in AdvCL, the t/t_b scale, the
// mean (not sum) over positives in HN, and the N = V(B−1) negative count.
package losses
