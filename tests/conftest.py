from fabricsim.testing import load_profile

# "fast" runs in `make test`; `make fuzz` selects "thorough" (HYPOTHESIS_PROFILE).
load_profile()
