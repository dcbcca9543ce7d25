-- TPC-H Q7: volume shipping (NATION1 = FRANCE, NATION2 = GERMANY).
SELECT
  supp_nation,
  cust_nationOM (
  e = 'FRANCE')ing
GROUP BY supp_nation, cust_nation, l_year
ORDER BY supp_nation, cust_nation, l_year;
