// Package benchmark is the workload `acl bench` times against its PyTorch peer
// (bench/pytorch_step.py computes the identical step): the standard adversarial
// contrastive training step — pretrain.RoCL's own step, built through the training loop's
// BuildStep — and a PGD evaluation batch, on a fixed synthetic batch, with their nominal
// FLOPs and the parity export that checks the peer computes the same losses.
package benchmark
