package optrace

import "github.com/gomlx/gomlx/backends"

// Covered lists the backend ops that engine/conformance_test.go compares between the goacl
// backend and GoMLX's stock simplego (values, and gradients for the differentiable ones):
// exactly the ops of its cases (TestConformanceCoversDeclaredOps checks both directions,
// and each case checks that its goacl graph emits the ops it claims). The op inventory
// test (acl/op_inventory_test.go) requires every op the project's graphs emit to be here.
var Covered = []backends.OpType{
	backends.OpTypeAbs, backends.OpTypeAdd, backends.OpTypeBitwiseXor, backends.OpTypeArgMinMax, backends.OpTypeBroadcastInDim,
	backends.OpTypeConcatenate, backends.OpTypeConstant, backends.OpTypeConvGeneral, backends.OpTypeConvertDType,
	backends.OpTypeCos, backends.OpTypeDiv, backends.OpTypeDotGeneral, backends.OpTypeEqual,
	backends.OpTypeExp, backends.OpTypeGreaterOrEqual, backends.OpTypeGreaterThan, backends.OpTypeIdentity,
	backends.OpTypeIota, backends.OpTypeLessThan, backends.OpTypeLog, backends.OpTypeLogicalAnd,
	backends.OpTypeLogicalNot, backends.OpTypeLogicalOr, backends.OpTypeMax, backends.OpTypeMin,
	backends.OpTypeMul, backends.OpTypeNeg, backends.OpTypeParameter, backends.OpTypeRNGBitGenerator,
	backends.OpTypeReduceMax, backends.OpTypeReduceSum, backends.OpTypeRem, backends.OpTypeReshape,
	backends.OpTypeSign, backends.OpTypeSlice, backends.OpTypeSqrt, backends.OpTypeSub,
	backends.OpTypeTranspose, backends.OpTypeWhere,
}
