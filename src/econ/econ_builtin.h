/* Private: the built-in policy texts of src/econ (policy_builtin.c). */
#ifndef FIRMUS_ECON_BUILTIN_H
#define FIRMUS_ECON_BUILTIN_H

/* JSON text of a built-in policy, or NULL. */
const char *econ_builtin_policy(const char *name);

#endif
