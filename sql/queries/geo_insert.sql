-- geo_insert: add the looked-up rows of the registered frame geo_staged to ip_geo.
INSERT INTO ip_geo BY NAME SELECT * FROM geo_staged
