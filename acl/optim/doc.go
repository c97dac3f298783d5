// Package optim holds the update rules and learning-rate schedules of the official
// methods: SGD with momentum and coupled weight decay (AdvCL, every finetuning), torchlars'
// LARS (RoCL) and ACL's own LARS, as a GoMLX optimizers.Interface whose momentum buffers
// are context variables (so checkpoints carry them); the learning-rate variable the
// training loop sets before every step; and the schedules by kind (ScheduleConfig, a
// run's config.json "schedule"): constant and step decay here, each method's official
// schedule registered from its file in acl/pretrain.
package optim
