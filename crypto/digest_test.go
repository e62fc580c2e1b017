package crypto

import "testing"

func TestHash(t *testing.T) {
	tests := []struct {
		name  string
		parts [][]byte
		want  string
	}{
		{"empty", nil, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", [][]byte{[]byte("abc")}, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		// Hash is over the plain concatenation (documented).
		{"abc in parts", [][]byte{[]byte("a"), nil, []byte("bc")}, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Hash(tt.parts...)
			if got := d.Hex(); got != tt.want {
				t.Errorf("Hex() = %s, want %s", got, tt.want)
			}
			if got := d.String(); got != tt.want {
				t.Errorf("String() = %s, want %s", got, tt.want)
			}
		})
	}
}
