carry = ["repository/conf/jndi.properties"] # ERROR: Duplicate carry list -- detail: Keep one list with every path
