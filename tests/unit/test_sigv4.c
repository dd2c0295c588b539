#include "sigv4/sigv4.h"
#include "tests/unit/check.h"
int main(void) { return check_exit(); }
