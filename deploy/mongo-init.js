// Per-service users of the KibaLock database. The mongo image runs this once, as root, when it
// initialises an empty data volume; the services then log in as their own user, never as root.
// Passwords come from the container's environment (docker-compose.yml, from .env).
const database = db.getSiblingDB(process.env.KIBALOCK_DATABASE);
for (const [user, variable] of [
  ["gateway", "GATEWAY_MONGO_PASSWORD"],
  ["provision", "PROVISION_MONGO_PASSWORD"],
  ["publisher", "PUBLISHER_MONGO_PASSWORD"],
  // For a trainer run against these stores (it is no compose service).
  ["trainer", "TRAINER_MONGO_PASSWORD"],
]) {
  const pwd = process.env[variable];
  if (!pwd) {
    throw new Error(`${variable} is not set`);
  }
  // readWrite covers what the services do: documents, collections and their indexes.
  database.createUser({ user, pwd, roles: [{ role: "readWrite", db: database.getName() }] });
}
