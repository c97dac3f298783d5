// Package field names the configuration field a validation error is about, so that each
// front end phrases it its own way: the library names a field by its key in config.json
// (e.g. loss.alpha), the command line by its flag (-alpha). The library never formats a
// command-line flag name; cmd/acl maps keys to flags with Error.Phrase.
package field

import (
	"errors"
	"fmt"
	"regexp"
)

// Error is an invalid configuration value: the key of the field, and a message whose
// field names are {key} placeholders (keys are config.json paths such as
// {loss.alpha}, {batch_size}). Error() writes the keys as they are; Phrase lets a caller
// name them its own way.
type Error struct {
	// Key is the config.json path of the offending field, e.g. "loss.alpha".
	Key string
	// msg holds the message with {key} placeholders.
	msg string
	// cause is the wrapped error, if any (its text ends msg).
	cause error
}

// placeholder matches {key}: a lower-case config.json path. Braces holding anything else
// (e.g. "pseudo_train_{2,10}.npy") are left alone.
var placeholder = regexp.MustCompile(`\{([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)\}`)

// Errorf returns the error of field key; format (with fmt's verbs and args) may name
// fields as {key} placeholders, e.g. Errorf("batch_size", "{batch_size} = %d: must be ≥ 2", n).
func Errorf(key, format string, args ...any) *Error {
	return &Error{Key: key, msg: fmt.Sprintf(format, args...)}
}

// Wrap returns err as the error of field key, "{key}: err". A *Error is returned as is
// when it already names key.
func Wrap(key string, err error) error {
	if err == nil {
		return nil
	}
	var fe *Error
	if errors.As(err, &fe) && fe == err && fe.Key == key {
		return err
	}
	return &Error{Key: key, msg: "{" + key + "}: " + err.Error(), cause: err}
}

// Within re-roots a field error of a nested configuration under prefix: keys k become
// prefix.k (e.g. a loss configuration's "alpha" inside a pretraining's "loss"). Another
// error is wrapped as the error of the field prefix.
func Within(prefix string, err error) error {
	if err == nil {
		return nil
	}
	fe, ok := err.(*Error)
	if !ok {
		return Wrap(prefix, err)
	}
	msg := placeholder.ReplaceAllString(fe.msg, "{"+prefix+".$1}")
	return &Error{Key: prefix + "." + fe.Key, msg: msg, cause: fe.cause}
}

// Error implements error: the message with every {key} written as key.
func (e *Error) Error() string { return e.Phrase(func(key string) string { return key }) }

// Phrase returns the message with every {key} placeholder replaced by name(key), e.g. the
// command-line flag that sets the field.
func (e *Error) Phrase(name func(key string) string) string {
	return placeholder.ReplaceAllStringFunc(e.msg, func(m string) string { return name(m[1 : len(m)-1]) })
}

// Unwrap returns the wrapped cause (nil for an error made by Errorf).
func (e *Error) Unwrap() error { return e.cause }
