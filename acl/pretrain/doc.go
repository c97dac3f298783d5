// Package pretrain is adversarial contrastive pretraining: the Method interface, one file
// per method (rocl.go, advcl.go, acl.go for ACL-DS, dynacl.go) owning everything about it —
// its official settings, checks, views, host state, step graph, schedule and how its
// encoder is evaluated — the run configuration (Config, a run's config.json), the presets
// that fill it at the paper's scale or shrunk to a CPU (Preset), and Pretrain, which runs
// a method on the training loop of acl/train into a run directory and resumes it exactly.
package pretrain
