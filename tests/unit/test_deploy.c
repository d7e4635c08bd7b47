#include <criterion/criterion.h>

Test(deploy, placeholder)
{
}
