package object

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// Limits on what a decoder accepts. They bound what a peer can make a node allocate.
const (
	// MaxSize is the largest encoded object, in bytes.
	MaxSize = 1 << 20
	// MaxNesting is the deepest nesting of arrays and maps.
	MaxNesting = 16
	// MaxArray is the longest array.
	MaxArray = 1 << 16
	// MaxMap is the largest map, in pairs.
	MaxMap = 1 << 10
)

// Sentinel errors. Errors returned by this package wrap one of them.
var (
	// ErrMalformed means the bytes are not valid CBOR for the target type, or break a cap.
	ErrMalformed = errors.New("object: malformed encoding")
	// ErrNotCanonical means the bytes decode but are not the canonical encoding of their value.
	ErrNotCanonical = errors.New("object: non-canonical encoding")
	// ErrTooLarge means the encoding exceeds MaxSize.
	ErrTooLarge = errors.New("object: too large")
	// ErrFloat means a value holds a floating-point number, which objects never do.
	ErrFloat = errors.New("object: floating-point value")
	// ErrHashMismatch means bytes do not hash to the CID they were fetched by.
	ErrHashMismatch = errors.New("object: bytes do not match CID")
	// ErrBadCID means a CID outside the allow-list (CIDv1, sha2-256, dag-cbor or raw).
	ErrBadCID = errors.New("object: CID not allowed")
	// ErrSignature means an envelope is malformed, tampered with, or signed for another domain.
	ErrSignature = errors.New("object: bad envelope signature")
	// ErrKind means an envelope carries a different kind of object than the one asked for.
	ErrKind = errors.New("object: wrong object kind")
)

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	eo := cbor.CoreDetEncOptions()
	eo.ShortestFloat = cbor.ShortestFloatNone
	eo.NaNConvert = cbor.NaNConvertReject
	eo.InfConvert = cbor.InfConvertReject
	eo.Time = cbor.TimeUnix
	var err error
	if encMode, err = eo.EncMode(); err != nil {
		panic(fmt.Sprintf("object: cbor encoder options: %v", err)) // constant options: a bug, not input
	}
	do := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   MaxNesting,
		MaxArrayElements:  MaxArray,
		MaxMapPairs:       MaxMap,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
	}
	if decMode, err = do.DecMode(); err != nil {
		panic(fmt.Sprintf("object: cbor decoder options: %v", err))
	}
}

// Marshal returns the canonical CBOR encoding of v. Values holding floats are rejected with ErrFloat.
func Marshal(v any) ([]byte, error) {
	if hasFloat(reflect.ValueOf(v), 0) {
		return nil, fmt.Errorf("marshal %T: %w", v, ErrFloat)
	}
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("marshal %T: %w: %w", v, ErrMalformed, err)
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("marshal %T: %d bytes: %w", v, len(b), ErrTooLarge)
	}
	// The decoder's caps (nesting, array and map lengths, tags) apply to what we encode too:
	// never produce, and sign, bytes that no peer would accept.
	if err := decMode.Wellformed(b); err != nil {
		return nil, fmt.Errorf("marshal %T: over the decoder's caps: %w: %w", v, ErrMalformed, err)
	}
	return b, nil
}

// Unmarshal decodes canonical CBOR into v (a pointer). It rejects unknown fields, floats,
// over-cap structures and any encoding that is not the canonical one for the decoded value.
func Unmarshal(b []byte, v any) error {
	if len(b) > MaxSize {
		return fmt.Errorf("unmarshal %T: %d bytes: %w", v, len(b), ErrTooLarge)
	}
	if err := checkNoFloats(b); err != nil {
		return fmt.Errorf("unmarshal %T: %w", v, err)
	}
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("unmarshal %T: %w: %w", v, ErrMalformed, err)
	}
	again, err := encMode.Marshal(reflect.ValueOf(v).Elem().Interface())
	if err != nil {
		return fmt.Errorf("unmarshal %T: re-encode: %w: %w", v, ErrMalformed, err)
	}
	if !bytes.Equal(again, b) {
		return fmt.Errorf("unmarshal %T: %w", v, ErrNotCanonical)
	}
	return nil
}

// checkNoFloats walks the raw CBOR data items and rejects any float (major type 7, additional info
// 25, 26 or 27). It also rejects trailing bytes and bad structure before the typed decode.
func checkNoFloats(b []byte) error {
	var raw any
	if err := decMode.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if hasFloat(reflect.ValueOf(raw), 0) {
		return ErrFloat
	}
	return nil
}

// hasFloat reports whether v holds a float anywhere.
func hasFloat(v reflect.Value, depth int) bool {
	if depth > 2*MaxNesting+8 || !v.IsValid() {
		return false
	}
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		return true
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return false
		}
		return hasFloat(v.Elem(), depth+1)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && hasFloat(v.Field(i), depth+1) {
				return true
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return false
		}
		for i := range v.Len() {
			if hasFloat(v.Index(i), depth+1) {
				return true
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if hasFloat(it.Key(), depth+1) || hasFloat(it.Value(), depth+1) {
				return true
			}
		}
	}
	return false
}
