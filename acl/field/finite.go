package field

import (
	"math"
	"reflect"
	"strings"
)

// Finite returns the error of the first float field of the struct v (or pointer to one)
// that holds NaN or ±Inf, named by its JSON key path (nested structs, pointers to structs
// and float slices included, e.g. "loss.alpha", "schedule.milestones"); nil when every
// float is finite. It is the last check of a configuration's Validate: a value that JSON
// cannot record is never accepted, whatever the variant that would read it.
func Finite(v any) error {
	return finite(reflect.ValueOf(v), "")
}

func finite(v reflect.Value, key string) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return finite(v.Elem(), key)
	case reflect.Float32, reflect.Float64:
		if x := v.Float(); math.IsNaN(x) || math.IsInf(x, 0) {
			return Errorf(key, "{%s} = %g: must be a finite number", key, x)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := finite(v.Index(i), key); err != nil {
				return err
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			sub := key
			switch {
			case f.Anonymous && name == "":
				// An embedded struct's fields are promoted: same key prefix.
			default:
				if name == "" {
					name = f.Name
				}
				if sub != "" {
					sub += "."
				}
				sub += name
			}
			if err := finite(v.Field(i), sub); err != nil {
				return err
			}
		}
	}
	return nil
}
