package losses

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX convention.
)

// CrossEntropy is the mean softmax cross-entropy of logits [N,K] against int labels [N]:
// (1/N) Σ_i −log softmax(z_i)_{y_i}, with the row max subtracted first (PyTorch's
// F.cross_entropy / nn.CrossEntropyLoss with mean reduction). Finetuning (SLF, ALF and
// TRADES's natural term), the linear probe and the benchmark's evaluation attack use it.
func CrossEntropy(logits, labels *Node) *Node {
	logp := Sub(logits, ReduceAndKeep(logits, ReduceMax, -1))
	logp = Sub(logp, Log(ReduceAndKeep(Exp(logp), ReduceSum, -1)))
	onehot := OneHot(labels, logits.Shape().Dimensions[1], logits.DType())
	return Neg(ReduceAllMean(ReduceSum(Mul(onehot, logp), -1)))
}

// AdvCLPseudoLabelCE returns AdvCL's pseudo-label term (1/K)Σ_k CE(logits[k], labels[k])
// over the K heads (spec §4.2): per head the cross-entropy summed over the batch
// (mean = false: the attack's `size_average=False`) or averaged over the labelled
// samples (mean = true: training's nn.CrossEntropyLoss), ignoring label −1
// (`ignore_index=-1`). A head whose batch has no labelled sample contributes 0 (PyTorch's
// mean would be NaN). logits[k] is [B, C_k]; labels[k] is [B] int32.
func AdvCLPseudoLabelCE(logits, labels []*Node, mean bool) *Node {
	if len(logits) != len(labels) || len(logits) == 0 {
		panic(fmt.Errorf("losses.AdvCLPseudoLabelCE: %d heads and %d label sets", len(logits), len(labels)))
	}
	var total *Node
	for k, lg := range logits {
		y := labels[k]
		valid := GreaterOrEqual(y, ZerosLike(y))
		safe := Where(valid, y, ZerosLike(y))
		logp := Sub(lg, StopGradient(ReduceAndKeep(lg, ReduceMax, -1)))
		logp = Sub(logp, Log(ReduceAndKeep(Exp(logp), ReduceSum, -1)))
		nll := Neg(ReduceSum(Mul(OneHot(safe, lg.Shape().Dimensions[1], lg.DType()), logp), -1))
		nll = Where(valid, nll, ZerosLike(nll))
		ce := ReduceAllSum(nll)
		if mean {
			count := ReduceAllSum(ConvertDType(valid, lg.DType()))
			ce = Div(ce, Max(count, OnesLike(count)))
		}
		if total == nil {
			total = ce
		} else {
			total = Add(total, ce)
		}
	}
	return DivScalar(total, float64(len(logits)))
}
