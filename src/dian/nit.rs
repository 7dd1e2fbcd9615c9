//! NIT check digit (DV), DIAN's mod-11 algorithm.
