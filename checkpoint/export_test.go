package checkpoint

// WithoutChecksum is withoutChecksum for the tests of package
// checkpoint_test.
var WithoutChecksum = withoutChecksum

// Parts is st.parts for the tests of package checkpoint_test.
func (st *State) Parts() ([]Tensor, map[string]string, error) { return st.parts() }
