#include <criterion/criterion.h>

Test(alarm, placeholder)
{
}
